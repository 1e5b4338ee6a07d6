from paraspike.cli import main

main()
