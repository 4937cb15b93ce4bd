from cdiscflow.cli import main

main()
