from iamstate.cli import main

main()
