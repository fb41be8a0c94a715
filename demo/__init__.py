"""The end-to-end demo: real data, three pipelines, and the audit results."""
