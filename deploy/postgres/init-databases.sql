-- Run once by the postgres image on a new data volume (/docker-entrypoint-initdb.d, as
-- POSTGRES_USER, after it made POSTGRES_DB, the warehouse): the metadata databases of
-- Airflow and Superset, which the local stack makes too (stack/services/postgres.py).
CREATE DATABASE airflow;
CREATE DATABASE superset;
