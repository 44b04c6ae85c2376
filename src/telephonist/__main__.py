from telephonist.cli import main

main()
