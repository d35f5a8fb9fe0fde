import XCTest
final class OpsPlaceholderTests: XCTestCase { func testBuilds() {} }
