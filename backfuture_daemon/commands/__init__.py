"""The top layer: one module per `backfuture` subcommand — `add_arguments(parser)` and
`run(args) -> exit code`; argparse and printing only. May import every layer below; only
`commands.sandbox` may import the sandbox (an import contract).
"""
