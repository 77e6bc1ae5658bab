"""Layer `bots`: whether each bot may trade (model, lifecycle, store) and the bots at work.

db: the one SQLite file and its migrations. store: lifecycle rows. intents: client order ids and
the intent log (committed before any send). books: a bot's GroupBook in SQLite. paper, paper_sim:
the paper exchange (a TradingPort on public market data). runner: one bot's tick loop around
`strategy.engine.decide` (runner_fills: fills into the book; runner_view: its snapshot); resume,
live_send, live_guard, live_rebuild: the live-only steps (unknown outcomes looked up, the send-site
checks, a book rebuilt from the exchange); outside: futures positions closed outside the bot.
supervisor: one runner task per bot, gated by the reconciler's commands.
Below the reconciler: may import `strategy`, `exchanges.port`, the leaves (`health`, `errors`,
`redaction`, `logs`); never the reconciler, telemetry or ccxt.
"""
