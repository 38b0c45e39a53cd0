"""The whole pipeline on one machine: live feed, continuous streams, Gold and dashboards."""
