"""The worker side: manager, worker processes, their agents and the request dispatcher."""
