"""configuration: read one GitOps config revision into a validated `DesiredState` (all-or-nothing).

Layer below exchanges/bots/reconciler; may import only `strategy`, `errors` and `redaction` from
the package. Entry point: `loading.load_revision`; `revision.probe_revision` names a revision
without decrypting it (the watcher's probe). Only `sops.py` runs the sops binary.
"""
