import CorralCLI

await CorralCommand.main()
