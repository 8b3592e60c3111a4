import Foundation

/// Reads a file line by line through a fixed-size buffer, so files larger than memory can be read.
/// Lines end with `\n` (a `\r` before it is dropped); the last line needs no newline.
public final class LineReader {
    public let path: String
    private let file: UnsafeMutablePointer<FILE>
    private var buffer: [UInt8]
    private var start = 0, end = 0
    private var atEOF = false
    /// The 1-based number of the last line returned.
    public private(set) var lineNumber = 0

    public init(path: String, bufferSize: Int = 1 << 16) throws {
        guard let f = fopen(path, "rb") else {
            throw RewardDataError(file: path, "cannot open: \(String(cString: strerror(errno)))")
        }
        self.path = path
        file = f
        buffer = [UInt8](repeating: 0, count: max(16, bufferSize))
    }

    deinit { fclose(file) }

    /// The next line's bytes without its terminator, or nil at the end of the file.
    public func nextLine() throws -> [UInt8]? {
        var line: [UInt8] = []
        while true {
            if start < end {
                let found: Int? = buffer.withUnsafeBufferPointer { p in
                    guard let base = p.baseAddress,
                        let hit = memchr(base + start, 0x0A, end - start)
                    else { return nil }
                    return UnsafeRawPointer(hit).assumingMemoryBound(to: UInt8.self) - base
                }
                if let nl = found {
                    line.append(contentsOf: buffer[start..<nl])
                    start = nl + 1
                    return finish(line)
                }
                line.append(contentsOf: buffer[start..<end])
                start = end
            }
            if atEOF { return line.isEmpty ? nil : finish(line) }
            let n = buffer.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
            if n == 0 {
                if ferror(file) != 0 {
                    throw RewardDataError(file: path, line: lineNumber + 1, "read error: \(String(cString: strerror(errno)))")
                }
                atEOF = true
            }
            start = 0
            end = n
        }
    }

    private func finish(_ line: [UInt8]) -> [UInt8] {
        lineNumber += 1
        return line.last == 0x0D ? Array(line.dropLast()) : line
    }
}

/// Streams `RewardItem`s from a JSONL file: one item per non-blank line.
///
/// A malformed line throws `RewardDataError` with the file, the line number and the reason; with
/// `skipInvalid` it is skipped instead and counted (`skipped`, with the first errors kept in
/// `skippedErrors`). With `allowUnlabelled` (scoring), items without a label are read too
/// (`RewardItem.isLabelled` false).
public final class RewardItemReader: IteratorProtocol, Sequence {
    public let skipInvalid: Bool
    public let allowUnlabelled: Bool
    public private(set) var skipped = 0
    /// The first `maxKeptErrors` errors of skipped lines.
    public private(set) var skippedErrors: [RewardDataError] = []
    public var maxKeptErrors = 20
    /// The error that ended iteration through `next()` (the `Sequence` form cannot throw).
    public private(set) var error: RewardDataError?
    private let lines: LineReader

    public init(path: String, skipInvalid: Bool = false, allowUnlabelled: Bool = false) throws {
        lines = try LineReader(path: path)
        self.skipInvalid = skipInvalid
        self.allowUnlabelled = allowUnlabelled
    }

    /// The next item, or nil at the end of the file.
    public func read() throws -> RewardItem? {
        while let bytes = try lines.nextLine() {
            if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
            do {
                let value: JSONValue
                do { value = try JSONValue.parse(bytes) } catch let e as JSONValueError { throw RewardDataError(e.reason) }
                return try RewardItem(json: value, allowUnlabelled: allowUnlabelled)
            } catch let e as RewardDataError {
                let located = RewardDataError(file: lines.path, line: lines.lineNumber, e.reason)
                guard skipInvalid else { throw located }
                skipped += 1
                if skippedErrors.count < maxKeptErrors { skippedErrors.append(located) }
            }
        }
        return nil
    }

    /// `Sequence` iteration; stops at the first unskipped error, which is kept in `error`.
    public func next() -> RewardItem? {
        guard error == nil else { return nil }
        do { return try read() } catch let e as RewardDataError {
            error = e
            return nil
        } catch {
            self.error = RewardDataError(file: lines.path, "\(error)")
            return nil
        }
    }

    /// Every item of a file (for files that fit in memory).
    public static func readAll(
        path: String, skipInvalid: Bool = false, allowUnlabelled: Bool = false
    ) throws -> (items: [RewardItem], skipped: Int) {
        let reader = try RewardItemReader(path: path, skipInvalid: skipInvalid, allowUnlabelled: allowUnlabelled)
        var items: [RewardItem] = []
        while let item = try reader.read() { items.append(item) }
        return (items, reader.skipped)
    }
}
