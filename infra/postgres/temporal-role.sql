-- Temporal's own role. The temporal-schema service creates Temporal's databases (temporal and
-- temporal_visibility) with it, and the server connects with it; the password is the compose
-- file's POSTGRES_PWD. The project's role and database (hybrid) come from the image's POSTGRES_*
-- variables. Like every init script, this runs once, on an empty data volume.
CREATE ROLE temporal LOGIN CREATEDB PASSWORD 'temporal';
