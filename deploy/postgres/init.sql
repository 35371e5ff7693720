-- Run once by the postgres image on an empty volume (docker-compose.yml mounts this
-- file in /docker-entrypoint-initdb.d). One database per service: no service reads
-- another's data, and each runs its own migrations at start.
CREATE DATABASE intake;
CREATE DATABASE routing;
CREATE DATABASE sla_watchdog;
CREATE DATABASE notification;
CREATE DATABASE analytics;
