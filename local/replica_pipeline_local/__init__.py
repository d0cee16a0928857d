"""What runs the pipeline on one machine: the Tavus emulator, the local stack, the CLI."""
