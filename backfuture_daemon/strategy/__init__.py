"""Layer `strategy`: the trading maths, pure (stdlib only; no clock, network, env or I/O).

presets/sizing: risk presets and the DCA series formula (configuration's margin rule). params: the
engine's input (DcaParams, GroupSizing, RecoveryParams, MarketRules, Quote, Gate). orders: Place |
Cancel with deterministic keys. groups: the immutable book. recovery, adds: Recovery Mode and the
add ladder. engine.decide: book + quotes -> Decision. status: per-group view. ladder: the table
`validate`/`plan` print. Imports nothing from the package; every other layer may import it.
"""
