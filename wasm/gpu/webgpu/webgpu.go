//go:build js && wasm

package webgpu

import (
	"errors"
	"fmt"
	"sync/atomic"
	"syscall/js"
)

// Buffer usage flags (GPUBufferUsage).
const (
	UsageMapRead  = 0x0001
	UsageMapWrite = 0x0002
	UsageCopySrc  = 0x0004
	UsageCopyDst  = 0x0008
	UsageUniform  = 0x0040
	UsageStorage  = 0x0080
)

// ErrNoWebGPU means the browser has no navigator.gpu or it offered no adapter.
var ErrNoWebGPU = errors.New("webgpu: no WebGPU adapter (navigator.gpu missing or requestAdapter returned null)")

// await waits for a JS promise from the calling goroutine and returns its value, or the
// rejection as an error. The callbacks only send on a buffered channel: they never block,
// which is what keeps the browser's event loop (and with it the promise) running.
// It must not be called from inside a js.FuncOf callback, where it would deadlock.
func await(p js.Value) (js.Value, error) {
	type result struct {
		v   js.Value
		err error
	}
	ch := make(chan result, 1)
	ok := js.FuncOf(func(this js.Value, args []js.Value) any {
		var v js.Value
		if len(args) > 0 {
			v = args[0]
		}
		ch <- result{v: v}
		return nil
	})
	fail := js.FuncOf(func(this js.Value, args []js.Value) any {
		msg := "promise rejected"
		if len(args) > 0 {
			msg = jsString(args[0])
		}
		ch <- result{err: errors.New(msg)}
		return nil
	})
	p.Call("then", ok, fail)
	r := <-ch
	ok.Release()
	fail.Release()
	return r.v, r.err
}

// jsString renders a JS value (an Error, a string, anything) for an error message.
func jsString(v js.Value) string {
	switch {
	case v.Type() == js.TypeString:
		return v.String()
	case v.Type() == js.TypeObject && v.Get("message").Type() == js.TypeString:
		return v.Get("message").String()
	default:
		return js.Global().Call("String", v).String()
	}
}

// Available reports whether the page has navigator.gpu at all.
func Available() bool {
	nav := js.Global().Get("navigator")
	return nav.Truthy() && nav.Get("gpu").Truthy()
}

// Adapter is a GPUAdapter.
type Adapter struct{ v js.Value }

// AdapterInfo is what the adapter says about itself (GPUAdapterInfo), for the UI.
type AdapterInfo struct {
	Vendor, Architecture, Device, Description string
	// IsFallback is true for a software adapter such as SwiftShader.
	IsFallback bool
}

// Name is a short human name: the description if any, else vendor and architecture.
func (i AdapterInfo) Name() string {
	name := i.Description
	if name == "" {
		name = i.Vendor
		if i.Architecture != "" {
			name += " " + i.Architecture
		}
	}
	if name == "" {
		name = "unknown adapter"
	}
	if i.IsFallback {
		name += " (fallback)"
	}
	return name
}

// RequestAdapter asks navigator.gpu for an adapter; ErrNoWebGPU if there is none.
func RequestAdapter() (*Adapter, error) {
	if !Available() {
		return nil, ErrNoWebGPU
	}
	a, err := await(js.Global().Get("navigator").Get("gpu").Call("requestAdapter"))
	if err != nil {
		return nil, fmt.Errorf("webgpu: requestAdapter: %w", err)
	}
	if !a.Truthy() {
		return nil, ErrNoWebGPU
	}
	return &Adapter{v: a}, nil
}

// Info returns the adapter's GPUAdapterInfo.
func (a *Adapter) Info() AdapterInfo {
	info := a.v.Get("info")
	if !info.Truthy() {
		return AdapterInfo{}
	}
	str := func(k string) string {
		if s := info.Get(k); s.Type() == js.TypeString {
			return s.String()
		}
		return ""
	}
	fb := info.Get("isFallbackAdapter")
	if fb.Type() != js.TypeBoolean {
		// Older browsers put the flag on the adapter itself.
		fb = a.v.Get("isFallbackAdapter")
	}
	return AdapterInfo{
		Vendor:       str("vendor"),
		Architecture: str("architecture"),
		Device:       str("device"),
		Description:  str("description"),
		IsFallback:   fb.Type() == js.TypeBoolean && fb.Bool(),
	}
}

// Limit returns one of the adapter's limits (GPUSupportedLimits), or 0 if unknown.
func (a *Adapter) Limit(name string) float64 {
	v := a.v.Get("limits").Get(name)
	if v.Type() != js.TypeNumber {
		return 0
	}
	return v.Float()
}

// HasFeature reports whether the adapter supports a feature such as "shader-f16".
func (a *Adapter) HasFeature(name string) bool {
	return a.v.Get("features").Call("has", name).Bool()
}

// RequestDevice asks for a device with the given required limits (name to value).
func (a *Adapter) RequestDevice(limits map[string]float64) (*Device, error) {
	desc := map[string]any{}
	if len(limits) > 0 {
		l := map[string]any{}
		for k, v := range limits {
			l[k] = v
		}
		desc["requiredLimits"] = l
	}
	d, err := await(a.v.Call("requestDevice", desc))
	if err != nil {
		return nil, fmt.Errorf("webgpu: requestDevice: %w", err)
	}
	dev := &Device{v: d, queue: d.Get("queue")}
	var onLost js.Func
	onLost = js.FuncOf(func(this js.Value, args []js.Value) any {
		why := "no reason given"
		if len(args) > 0 && args[0].Type() == js.TypeObject {
			why = fmt.Sprintf("%s: %s", jsString(args[0].Get("reason")), jsString(args[0].Get("message")))
		}
		dev.lost.Store(&why)
		onLost.Release()
		return nil
	})
	d.Get("lost").Call("then", onLost)
	return dev, nil
}

// ErrDeviceLost means the GPUDevice is gone: destroyed, reclaimed by the browser (a tab
// that used too much GPU memory) or lost in a driver reset. Nothing made on it works again.
var ErrDeviceLost = errors.New("webgpu: device lost")

// Device is a GPUDevice with its queue.
type Device struct {
	v, queue js.Value
	lost     atomic.Pointer[string] // why the device was lost, once GPUDevice.lost resolves
}

// Lost returns ErrDeviceLost, with the browser's reason, once the device is lost; else nil.
func (d *Device) Lost() error {
	if why := d.lost.Load(); why != nil {
		return fmt.Errorf("%w (%s)", ErrDeviceLost, *why)
	}
	return nil
}

// Limit returns one of the device's limits, or 0 if unknown.
func (d *Device) Limit(name string) float64 {
	v := d.v.Get("limits").Get(name)
	if v.Type() != js.TypeNumber {
		return 0
	}
	return v.Float()
}

// Destroy releases the device and everything made from it.
func (d *Device) Destroy() { d.v.Call("destroy") }

// PushErrorScope starts capturing errors of a kind: "validation", "out-of-memory" or "internal".
func (d *Device) PushErrorScope(filter string) { d.v.Call("pushErrorScope", filter) }

// PopErrorScope ends the innermost scope and returns the first error it caught, if any.
func (d *Device) PopErrorScope() error {
	e, err := await(d.v.Call("popErrorScope"))
	if err != nil {
		return fmt.Errorf("webgpu: popErrorScope: %w", err)
	}
	if e.Truthy() {
		return errors.New("webgpu: " + jsString(e))
	}
	return nil
}

// Buffer is a GPUBuffer.
type Buffer struct {
	v    js.Value
	Size int
}

// CreateBuffer makes a buffer of size bytes (rounded up to a multiple of 4) with the usage flags.
func (d *Device) CreateBuffer(label string, size, usage int) *Buffer {
	size = (size + 3) &^ 3
	if size == 0 {
		size = 4
	}
	b := d.v.Call("createBuffer", map[string]any{"label": label, "size": size, "usage": usage})
	return &Buffer{v: b, Size: size}
}

// Destroy frees the buffer's memory now rather than at garbage collection.
func (b *Buffer) Destroy() { b.v.Call("destroy") }

// WriteBuffer queues a copy of data into b at offset; offset and len(data) must be multiples of 4.
func (d *Device) WriteBuffer(b *Buffer, offset int, data []byte) {
	if offset%4 != 0 || len(data)%4 != 0 {
		panic("webgpu: WriteBuffer offset and size must be multiples of 4")
	}
	if len(data) == 0 {
		return
	}
	arr := js.Global().Get("Uint8Array").New(len(data))
	js.CopyBytesToJS(arr, data)
	d.queue.Call("writeBuffer", b.v, offset, arr)
}

// ReadBuffer fills dst from the start of a MAP_READ buffer once all work submitted so far
// has finished: it maps, copies out and unmaps.
func (d *Device) ReadBuffer(b *Buffer, dst []byte) error {
	if _, err := await(b.v.Call("mapAsync", 1 /* GPUMapMode.READ */, 0, len(dst))); err != nil {
		return fmt.Errorf("webgpu: mapAsync: %w", err)
	}
	r := b.v.Call("getMappedRange", 0, len(dst))
	js.CopyBytesToGo(dst, js.Global().Get("Uint8Array").New(r))
	b.v.Call("unmap")
	return nil
}

// ShaderModule is a compiled GPUShaderModule.
type ShaderModule struct{ v js.Value }

// CreateShaderModule compiles WGSL source and returns the compiler's errors, if any, with
// line numbers, as an error.
func (d *Device) CreateShaderModule(label, code string) (*ShaderModule, error) {
	m := d.v.Call("createShaderModule", map[string]any{"label": label, "code": code})
	info, err := await(m.Call("getCompilationInfo"))
	if err != nil {
		return nil, fmt.Errorf("webgpu: shader %s: getCompilationInfo: %w", label, err)
	}
	msgs := info.Get("messages")
	var errs []error
	for i := 0; i < msgs.Length(); i++ {
		msg := msgs.Index(i)
		if msg.Get("type").String() != "error" {
			continue
		}
		errs = append(errs, fmt.Errorf("webgpu: shader %s:%d:%d: %s", label,
			msg.Get("lineNum").Int(), msg.Get("linePos").Int(), msg.Get("message").String()))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &ShaderModule{v: m}, nil
}

// ComputePipeline is a GPUComputePipeline with an automatic layout.
type ComputePipeline struct {
	v     js.Value
	Label string
}

// CreateComputePipeline builds a pipeline from the module's entry point, setting WGSL
// override constants by name; it reports validation errors (for example an override
// that makes a workgroup array too large) as an error.
func (d *Device) CreateComputePipeline(label string, m *ShaderModule, entry string, constants map[string]float64) (*ComputePipeline, error) {
	compute := map[string]any{"module": m.v, "entryPoint": entry}
	if len(constants) > 0 {
		c := map[string]any{}
		for k, v := range constants {
			c[k] = v
		}
		compute["constants"] = c
	}
	d.PushErrorScope("validation")
	p := d.v.Call("createComputePipeline", map[string]any{"label": label, "layout": "auto", "compute": compute})
	if err := d.PopErrorScope(); err != nil {
		return nil, fmt.Errorf("pipeline %s: %w", label, err)
	}
	return &ComputePipeline{v: p, Label: label}, nil
}

// BindGroup is a GPUBindGroup.
type BindGroup struct{ v js.Value }

// Binding puts a buffer at @binding(Binding): the whole buffer, or Size bytes from Offset
// when Size > 0.
type Binding struct {
	Binding      int
	Buffer       *Buffer
	Offset, Size int
}

// CreateBindGroup binds buffers to group 0 of the pipeline. With an automatic layout, it
// must name exactly the bindings the pipeline's entry point uses.
func (d *Device) CreateBindGroup(p *ComputePipeline, bindings ...Binding) *BindGroup {
	entries := make([]any, len(bindings))
	for i, b := range bindings {
		res := map[string]any{"buffer": b.Buffer.v}
		if b.Offset != 0 {
			res["offset"] = b.Offset
		}
		if b.Size > 0 {
			res["size"] = b.Size
		}
		entries[i] = map[string]any{"binding": b.Binding, "resource": res}
	}
	bg := d.v.Call("createBindGroup", map[string]any{
		"label":   p.Label,
		"layout":  p.v.Call("getBindGroupLayout", 0),
		"entries": entries,
	})
	return &BindGroup{v: bg}
}

// CommandEncoder records passes and copies into one command buffer.
type CommandEncoder struct {
	d *Device
	v js.Value
}

// CreateCommandEncoder starts recording.
func (d *Device) CreateCommandEncoder() *CommandEncoder {
	return &CommandEncoder{d: d, v: d.v.Call("createCommandEncoder")}
}

// ComputePass is a GPUComputePassEncoder.
type ComputePass struct{ v js.Value }

// BeginComputePass opens a compute pass; End it before recording anything else.
func (e *CommandEncoder) BeginComputePass() *ComputePass {
	return &ComputePass{v: e.v.Call("beginComputePass")}
}

// Dispatch runs p with bg bound at group 0 over x*y*z workgroups.
func (c *ComputePass) Dispatch(p *ComputePipeline, bg *BindGroup, x, y, z int) {
	c.v.Call("setPipeline", p.v)
	c.v.Call("setBindGroup", 0, bg.v)
	c.v.Call("dispatchWorkgroups", x, y, z)
}

// End closes the pass.
func (c *ComputePass) End() { c.v.Call("end") }

// CopyBufferToBuffer records a copy of size bytes.
func (e *CommandEncoder) CopyBufferToBuffer(src *Buffer, srcOff int, dst *Buffer, dstOff, size int) {
	e.v.Call("copyBufferToBuffer", src.v, srcOff, dst.v, dstOff, size)
}

// Submit finishes the encoder and submits its command buffer to the queue.
func (e *CommandEncoder) Submit() {
	e.d.queue.Call("submit", []any{e.v.Call("finish")})
}

// Done waits until the queue has finished all work submitted so far.
func (d *Device) Done() error {
	_, err := await(d.queue.Call("onSubmittedWorkDone"))
	return err
}
