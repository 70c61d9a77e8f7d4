from nof1.cli import main

main()
