import CorralCLI

@main
extension CorralCommand {}
