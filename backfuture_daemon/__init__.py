"""backfuture-daemon: GitOps daemon for exchange connections and health-gated trading bots."""

__version__ = "0.1.0"
