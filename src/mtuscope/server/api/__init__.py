"""The /api/v1 routers: admin.py (the contract's admin routes) and agent.py (schedule, results)."""
