from vpslog.quick import main

main()
