from computerouter.cli import main

main()
