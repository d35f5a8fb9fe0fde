import XCTest
final class ControlPlaceholderTests: XCTestCase { func testBuilds() {} }
