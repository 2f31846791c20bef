from dflowctl.cli import main

main()
