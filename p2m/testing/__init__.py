"""What p2m's tests and benchmarks share (p2m itself never imports it): fakes for pure logic
(`fakes`), a fault-injecting proxy in front of a real server (`fault_proxy`), and servers on loopback
with a raw HTTP client (`servers`)."""
