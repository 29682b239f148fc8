"""What each DVC stage does, as functions of paths, one module per stage so that a stage's
`dvc.yaml` deps are exactly the modules it runs; `stages/*.py` only parse arguments.

Every function validates ``params.yaml`` first and writes its outputs atomically.
"""
