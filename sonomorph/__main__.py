from sonomorph.cli import run

run()
