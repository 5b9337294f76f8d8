from vpslog import main

main()
