"""One module per `backfuture` subcommand: add_parser(subparsers) and run(args) -> exit code."""
