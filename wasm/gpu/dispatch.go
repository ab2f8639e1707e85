package gpu

// grid spreads n invocations in workgroups of wg over a 2-D dispatch (x, y) with x at
// most 65535, WebGPU's default limit per dimension; shaders index gid.x + gid.y*x*wg.
func grid(n, wg int) (x, y int) {
	groups := ceilDiv(n, wg)
	if groups <= 65535 {
		return max(groups, 1), 1
	}
	y = ceilDiv(groups, 65535)
	return ceilDiv(groups, y), y
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
