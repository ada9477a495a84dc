from tests.soak.harness import main

main()
