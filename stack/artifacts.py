"""JVM artifacts of the stack, fetched from Maven Central once into a per-user cache.

Maven itself resolves the dependency trees (with its own local repository as a second
cache): each artifact set is described as a list of coordinates, turned into a throw-away
POM and copied into ``<cache>/<name>-<digest>/``. The digest of the coordinates names the
folder, so changing a version fetches a new set while the old one stays usable, and a warm
cache is used without running Maven at all.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tarfile
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

from stack.process import StackError

MAVEN_CENTRAL = "Maven Central"
_COMPLETE = ".complete"


@dataclass(frozen=True)
class Coordinate:
    """``group:artifact:version[:type[:classifier]]`` with optional exclusions (group:artifact)."""

    spec: str
    exclusions: tuple[str, ...] = ()

    @property
    def parts(self) -> dict[str, str]:
        bits = self.spec.split(":")
        if len(bits) not in (3, 4, 5):
            raise ValueError(f"bad Maven coordinate {self.spec!r}")
        keys = ("groupId", "artifactId", "version", "type", "classifier")
        return dict(zip(keys, bits, strict=False))

    @property
    def repository_path(self) -> str:
        """Where the artifact lies in a Maven repository (``org/x/a/1.0/a-1.0.jar``)."""
        p = self.parts
        classifier = f"-{p['classifier']}" if "classifier" in p else ""
        name = f"{p['artifactId']}-{p['version']}{classifier}.{p.get('type', 'jar')}"
        return "/".join((*p["groupId"].split("."), p["artifactId"], p["version"], name))

    def pom_dependency(self) -> str:
        tags = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in self.parts.items())
        if self.exclusions:
            excl = "".join(
                "<exclusion><groupId>{}</groupId><artifactId>{}</artifactId></exclusion>".format(
                    *map(escape, e.split(":"))
                )
                for e in self.exclusions
            )
            tags += f"<exclusions>{excl}</exclusions>"
        return f"<dependency>{tags}</dependency>"


@dataclass(frozen=True)
class ArtifactSet:
    """A named set of Maven artifacts copied together into one folder.

    ``transitive=False`` copies exactly the listed artifacts (used for distributions such as
    a zip, or jars whose dependencies another runtime already ships).
    """

    name: str
    coordinates: tuple[Coordinate, ...]
    transitive: bool = True
    unpack: bool = False  # unzip the single listed archive instead of keeping it
    notes: str = field(default="", compare=False)

    @property
    def digest(self) -> str:
        text = "\n".join(
            f"{c.spec}|{','.join(c.exclusions)}" for c in self.coordinates
        ) + f"\n{self.transitive}{self.unpack}"
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def path(self, cache_dir: Path) -> Path:
        return cache_dir / "artifacts" / f"{self.name}-{self.digest}"

    def is_cached(self, cache_dir: Path) -> bool:
        return (self.path(cache_dir) / _COMPLETE).exists()

    def ensure(self, cache_dir: Path, *, log: Path | None = None) -> Path:
        """The folder holding this set, fetched now if the cache does not have it."""
        dest = self.path(cache_dir)
        if (dest / _COMPLETE).exists():
            return dest
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{self.name}-", dir=dest.parent))
        try:
            _maven_copy(self, staging, log=log)
            if self.unpack:
                _unpack_single_archive(staging)
            (staging / _COMPLETE).write_text("\n".join(c.spec for c in self.coordinates) + "\n")
            if dest.exists():  # an earlier interrupted fetch: replace it
                shutil.rmtree(dest)
            staging.rename(dest)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        # Servers running as the unprivileged service user read from here.
        _make_world_readable(dest)
        return dest

    def locate(self, cache_dir: Path, pattern: str) -> Path:
        """The one file matching ``pattern`` (a glob) inside this cached set."""
        found = sorted(self.path(cache_dir).glob(pattern))
        if not found:
            raise StackError(
                f"{pattern} not found in {self.path(cache_dir)}; delete that folder and run "
                "'bin/stack fetch' again"
            )
        return found[0]

    def jars(self, cache_dir: Path) -> list[Path]:
        return sorted(self.path(cache_dir).glob("*.jar"))


def _pom(artifacts: ArtifactSet) -> str:
    deps = "".join(c.pom_dependency() for c in artifacts.coordinates)
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0">'
        "<modelVersion>4.0.0</modelVersion>"
        f"<groupId>local.hoverboard.stack</groupId><artifactId>{escape(artifacts.name)}</artifactId>"
        "<version>0</version><packaging>pom</packaging>"
        f"<dependencies>{deps}</dependencies></project>"
    )


def _maven_copy(artifacts: ArtifactSet, out_dir: Path, *, log: Path | None) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError("Maven ('mvn') is not installed; run bin/setup, which installs it")
    with tempfile.TemporaryDirectory(prefix="hover-pom-") as work:
        pom = Path(work) / "pom.xml"
        pom.write_text(_pom(artifacts))
        if artifacts.transitive:
            goals = [[
                "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies",
                f"-DoutputDirectory={out_dir}",
                "-DincludeScope=runtime",
            ]]
        else:
            # 'copy' fetches exactly the named artifact without collecting its dependency
            # graph (some published POMs point at repositories other than Maven Central).
            goals = [
                [
                    "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy",
                    f"-Dartifact={_artifact_arg(c)}",
                    f"-DoutputDirectory={out_dir}",
                ]
                for c in artifacts.coordinates
            ]
        output_parts = []
        for goal in goals:
            cmd = [mvn, "-B", "-q", "-f", str(pom), *goal]
            result = subprocess.run(cmd, capture_output=True, text=True)
            output_parts.append(f"$ {' '.join(cmd)}\n{result.stdout}{result.stderr}")
            if result.returncode != 0:
                break
    output = "\n".join(output_parts).strip()
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a") as fh:
            fh.write(output + "\n")
    if result.returncode != 0:
        wanted = ", ".join(c.spec for c in artifacts.coordinates)
        lines = [ln for ln in output.splitlines() if "ERROR" in ln][:5]
        detail = "\n  ".join(lines) or output[-2000:]
        raise StackError(
            f"could not fetch {artifacts.name} ({wanted}) from {MAVEN_CENTRAL}:\n  {detail}"
        )


def _artifact_arg(coordinate: Coordinate) -> str:
    """``dependency:copy`` wants group:artifact:version[:packaging[:classifier]]."""
    p = coordinate.parts
    bits = [p["groupId"], p["artifactId"], p["version"], p.get("type", "jar")]
    if "classifier" in p:
        bits.append(p["classifier"])
    return ":".join(bits)


def _unpack_single_archive(folder: Path) -> None:
    archives = [p for p in folder.iterdir() if p.name.endswith((".zip", ".tar.gz", ".tgz"))]
    if len(archives) != 1:
        raise StackError(f"expected one archive in {folder}, found {archives}")
    archive = archives[0]
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                target = folder / info.filename
                zf.extract(info, folder)
                mode = (info.external_attr >> 16) & 0o777
                if mode:
                    target.chmod(mode)
    else:
        with tarfile.open(archive) as tf:
            tf.extractall(folder, filter="data")
    archive.unlink()


def _make_world_readable(root: Path) -> None:
    for path in [root, *root.rglob("*")]:
        mode = path.stat().st_mode
        extra = 0o555 if path.is_dir() or mode & 0o111 else 0o444
        path.chmod(mode | extra)


def ensure_all(sets: Sequence[ArtifactSet], cache_dir: Path, *, log: Path | None = None) -> None:
    for artifact_set in sets:
        artifact_set.ensure(cache_dir, log=log)
