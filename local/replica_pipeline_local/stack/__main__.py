"""``python -m replica_pipeline_local.stack up|down|serve|status``: see ``lifecycle``."""

from replica_pipeline_local.stack.lifecycle import main

main()
