"""Airflow plugins of the hoverboard platform: hooks, operators and notifiers used by dags/.

The folder ``plugins/`` is on ``sys.path`` in every Airflow process (and in the tests and
command-line tools, which add it the same way), so this package imports as ``hoverboard``.
"""
