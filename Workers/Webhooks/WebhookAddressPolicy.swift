#if canImport(Glibc)
import Glibc
#endif

/// Which IP addresses a webhook may reach. The worker calls endpoints from inside the fleet's
/// network, so an address of that network (loopback, private, link-local — the cloud metadata
/// service at 169.254.169.254 —, shared, multicast, reserved) would let a clinic admin make it
/// POST to the fleet's own services. The ingress checks the URL as registered; the poster checks
/// every address a name resolves to at the moment it connects (a name that resolved to a public
/// address at registration may resolve to 10.0.0.5 at delivery: DNS rebinding).
public enum WebhookAddressPolicy {
    /// An IPv4 address, its four octets in network order.
    public static func isPrivate(ipv4 octets: [UInt8]) -> Bool {
        guard octets.count == 4 else { return true }
        switch (octets[0], octets[1], octets[2]) {
        case (0, _, _), (10, _, _), (127, _, _): return true  // "this network", private, loopback
        case (100, 64...127, _): return true  // shared address space (carrier-grade NAT)
        case (169, 254, _): return true  // link-local, the cloud metadata service
        case (172, 16...31, _), (192, 168, _): return true  // private
        case (192, 0, 0): return true  // IETF protocol assignments
        case (198, 18...19, _): return true  // benchmarking
        default: return octets[0] >= 224  // multicast, reserved, broadcast
        }
    }

    /// An IPv6 address, its sixteen bytes in network order. Addresses that carry an IPv4 address
    /// (mapped, compatible, NAT64) are judged by it.
    public static func isPrivate(ipv6 bytes: [UInt8]) -> Bool {
        guard bytes.count == 16 else { return true }
        let embedded = Array(bytes[12...])
        if bytes[0..<12].allSatisfy({ $0 == 0 }) {
            // `::` and `::1`, then the deprecated IPv4-compatible form.
            return embedded[0..<3].allSatisfy { $0 == 0 } && embedded[3] <= 1 ? true : isPrivate(ipv4: embedded)
        }
        if bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xff, bytes[11] == 0xff { return isPrivate(ipv4: embedded) }
        if bytes[0..<12] == [0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0] { return isPrivate(ipv4: embedded) }
        if bytes[0] & 0xfe == 0xfc { return true }  // unique local
        if bytes[0] == 0xfe, bytes[1] & 0x80 == 0x80 { return true }  // link-local, and the old site-local
        return bytes[0] == 0xff  // multicast
    }

    /// An IP literal (IPv6 without brackets): nil when the text is not one.
    public static func isPrivate(literal text: String) -> Bool? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return isPrivate(ipv4: withUnsafeBytes(of: v4) { Array($0) }) }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return isPrivate(ipv6: withUnsafeBytes(of: v6) { Array($0) }) }
        return nil
    }
}
