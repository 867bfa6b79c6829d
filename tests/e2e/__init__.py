"""End-to-end tests in the lab (real namespaces, real routers); `lablib` holds what they share."""
