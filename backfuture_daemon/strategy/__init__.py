"""Layer `strategy`: the trading maths, pure (stdlib only; no clock, network, env or I/O).

Risk presets, DCA sizing (the series formula, written once) and, on top, the engine that turns a
bot's book and a market quote into order commands. Imports nothing from the package; every other
layer may import it (configuration uses it for the margin rule).
"""
