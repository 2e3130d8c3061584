"""The unattended side of sopgraph: alerts in, a run queue, workers, approvals over HTTP and a page.

`sopgraph serve` (graphs.service.app) takes alerts and decisions; `sopgraph worker`
(graphs.service.worker) runs the queued diagnoses. They share nothing but the database: SQLite by
default (one worker), Postgres with SOPGRAPH_DATABASE_URL (any number of workers on any machines).
"""
