"""Local stack of real Kafka, Neo4j and S3 servers on 127.0.0.1, without Docker.

Each service is fetched from a package registry (Maven Central or the Go module
proxy), cached under the cache directory keyed by version, and run as a child
process with its own data directory, log file and pid file.
"""
