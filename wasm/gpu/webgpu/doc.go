// Package webgpu is a thin typed layer over the browser's navigator.gpu, through syscall/js.
package webgpu
