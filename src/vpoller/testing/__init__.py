"""Real parts for tests, the demo and benchmarks: simulator, stack, relay, load driver."""
