"""Benchmark harness for the router: every figure is a ratio against a reference in the same run.

Run it with `make bench` or `.venv/bin/python -m bench [--quick | --smoke] [--only SECTION]`.
Sections: throughput, latency, streaming, ttfb, concurrency (see `bench.sections`).
"""
