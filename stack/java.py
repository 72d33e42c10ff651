"""Finding a Java runtime recent enough for each JVM service, with a clear error if none is."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

from stack.process import StackError

JVM_ROOT = Path("/usr/lib/jvm")


@cache
def java_major(java: str) -> int:
    """Major version of a ``java`` executable (17, 21, 25, ...)."""
    try:
        out = subprocess.run(
            [java, "-XshowSettings:properties", "-version"],
            capture_output=True, text=True, timeout=30,
        ).stderr
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise StackError(f"cannot run {java}: {exc}") from exc
    match = re.search(r"java\.specification\.version = (\d+)(?:\.(\d+))?", out)
    if not match:
        raise StackError(f"cannot tell the version of {java}; it printed:\n{out[-500:]}")
    major = int(match.group(1))
    return int(match.group(2)) if major == 1 else major  # "1.8" means Java 8


def _candidates(env_var: str) -> list[str]:
    found: list[str] = []
    home = os.environ.get(env_var)
    if home:
        # An explicit choice is final: do not silently fall back to another JDK.
        return [str(Path(home) / "bin" / "java")]
    if os.environ.get("JAVA_HOME"):
        found.append(str(Path(os.environ["JAVA_HOME"]) / "bin" / "java"))
    on_path = shutil.which("java")
    if on_path:
        found.append(on_path)
    found += [str(p) for p in sorted(JVM_ROOT.glob("*/bin/java"))]
    return found


def find_java(minimum: int, *, purpose: str, env_var: str = "HOVER_JAVA_HOME",
              prefer_newest: bool = False) -> str:
    """Path of a java executable of at least version ``minimum``.

    ``env_var`` names a JDK home that, when set, is the only one considered.
    """
    usable: list[tuple[int, str]] = []
    seen: list[str] = []
    for java in dict.fromkeys(_candidates(env_var)):
        if not os.access(java, os.X_OK):
            seen.append(f"{java} (not found)")
            continue
        major = java_major(java)
        seen.append(f"{java} (Java {major})")
        if major >= minimum:
            usable.append((major, java))
    if not usable:
        tried = "; ".join(seen) or "no java on PATH, JAVA_HOME unset"
        raise StackError(
            f"{purpose} needs Java {minimum} or newer; tried: {tried}. Install a JDK "
            f"(bin/setup installs Java 17) or point {env_var} at one"
        )
    if prefer_newest:
        return max(usable)[1]
    return usable[0][1]
