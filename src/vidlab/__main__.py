from vidlab.cli.app import main

main()
