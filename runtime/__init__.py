"""What the platform's programs need wherever they run: its settings (``runtime.settings``)
and detached processes (``runtime.processes``).

The Airflow plugins, the Spark jobs, the ingest API and the local stack (``stack/``) all
import it; it imports none of them, so each deploys without the others.
"""
