from gmmbg.cli.main import main

main()
