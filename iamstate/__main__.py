from iamstate.cli import run

run()
