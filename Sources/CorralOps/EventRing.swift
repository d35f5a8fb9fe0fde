// The daemon's in-memory copy of the most recent events (docs/operations.md §2: the last 4096),
// answering GetEvents and Explain without reading the log.

public struct EventRing: Sendable {
    public static let defaultCapacity = 4096

    public let capacity: Int
    private var storage: [Event] = []
    /// Index of the oldest element once the ring is full.
    private var head = 0
    /// Events appended over the ring's lifetime (including those overwritten).
    public private(set) var appended = 0

    public init(capacity: Int = EventRing.defaultCapacity) {
        self.capacity = max(1, capacity)
        storage.reserveCapacity(min(self.capacity, 1024))
    }

    public var count: Int { storage.count }
    public var isEmpty: Bool { storage.isEmpty }

    public mutating func append(_ event: Event) {
        appended += 1
        if storage.count < capacity {
            storage.append(event)
        } else {
            storage[head] = event
            head = (head + 1) % capacity
        }
    }

    /// The events held, oldest first.
    public var events: [Event] {
        Array(storage[head...] + storage[..<head])
    }

    /// The newest event with this id (and boot id, when given).
    public func event(id: String, bootID: String? = nil) -> Event? {
        events.last { $0.id == id && (bootID == nil || $0.bootID == bootID) }
    }

    /// Events matching `filter`, oldest first; `filter.limit` keeps the newest N.
    public func events(matching filter: EventFilter) -> [Event] { filter.apply(events) }
}
