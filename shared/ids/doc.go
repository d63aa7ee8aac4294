// Package ids makes the random identifiers fedgate hands out.
package ids
