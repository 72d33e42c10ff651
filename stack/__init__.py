"""The local stack: the platform's real services as local processes, without Docker.

Command line: ``bin/stack up|down|status|logs|reset|fetch|env`` (see ``python -m stack -h``).
Tests bring the same stack up through :class:`stack.orchestrator.LocalStack`.
"""
